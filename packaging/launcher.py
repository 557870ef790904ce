"""Entry script of the packaged app. freeze_support() lets the app's spawned worker process start
from the frozen executable (it re-runs this binary with multiprocessing's arguments)."""
import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from mspview.cli import main

    sys.exit(main())
