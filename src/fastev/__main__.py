from fastev.cli import entry

entry()
