"""Models of this app arrive with its issue; the app is installed so that its URLs and migrations have a home."""
