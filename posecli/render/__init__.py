"""Drawing poses onto images and videos."""
