"""What a person reads: tables, the Markdown/HTML report, plots, pytest-benchmark JSON."""
