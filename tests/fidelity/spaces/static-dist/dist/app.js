document.title = "static-dist js ok";
