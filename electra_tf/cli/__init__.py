"""The command-line programs (console commands of the package; the root scripts call them)."""
