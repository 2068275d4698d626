"""human stage."""
