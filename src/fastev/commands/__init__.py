"""One module per ``fastev`` subcommand."""
