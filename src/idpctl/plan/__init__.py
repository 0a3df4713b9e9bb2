"""Planning: desired + live + state -> a Plan (pure, no I/O), user-flow link planning, and the
plan file."""
