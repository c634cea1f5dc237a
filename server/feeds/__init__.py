"""Calendar feeds (SPEC §13): secret URLs serving open dated tasks as RFC 5545 VTODOs."""
