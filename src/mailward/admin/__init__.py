"""One function per admin operation, called by the command line and the web console alike."""
