"""Export and import (SPEC §13): one JSON document of lists and tasks; Todoist CSV too."""
