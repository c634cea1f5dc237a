"""The load benchmark and the measuring tools of bench/README.md."""
