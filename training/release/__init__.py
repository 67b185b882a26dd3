"""A run from start to served: the run's stages, publish and rollback, CTranslate2 conversion."""
