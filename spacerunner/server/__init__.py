"""`spacerunner serve`: a folder of Spaces behind one port, with a gallery, logs and an API."""
