"""Running a model: runtime discovery, model files and interpreter engines."""
