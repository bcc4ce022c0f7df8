"""One router per area; each route is one call into the application interface (StudioDep)."""
