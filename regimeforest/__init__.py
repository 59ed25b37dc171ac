"""regimeforest's command line: the edge where the engines are started (see ``regimeforest --help``)."""
