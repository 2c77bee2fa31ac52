"""Known models: the manifest, finding files, fetching and verifying them."""
