"""Publishing Spaces to a server: git over HTTP into each Space's folder."""
