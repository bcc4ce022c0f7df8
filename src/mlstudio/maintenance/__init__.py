"""Clean-up: what still needs a version (:mod:`.needs`) and the artifact store's garbage
collection (:mod:`.gc`)."""
