"""Users, their roles per book, and the one permission matrix every service checks."""
