"""The names of the core's concrete messages: the one list, read without building them.

:mod:`._core_events` and :mod:`._core_commands` define them (their ``__all__``), the
public :mod:`.events` and :mod:`.commands` hand them out on first use, and the plugin
host names them for transports, all from these tuples.
"""

__all__ = ["EVENT_CLASSES", "EVENT_NAMES", "COMMAND_NAMES"]

#: the concrete core event classes
EVENT_CLASSES = (
    "ResourceCreatedEvent",
    "ResourceDeletedEvent",
    "ResourceEvent",
    "ResourceUpdatedEvent",
    "SessionEnded",
    "SessionStarted",
    "SystemEvent",
    "WorkflowCompletedEvent",
    "WorkflowEvent",
    "WorkflowFailedEvent",
    "WorkflowStartedEvent",
    "WorkflowStepCompletedEvent",
)
#: everything :mod:`._core_events` exports: the classes and the severities of SystemEvent
EVENT_NAMES = tuple(sorted((*EVENT_CLASSES, "SEVERITIES", "Severity")))
#: the concrete core command classes
COMMAND_NAMES = (
    "CreateResourceCommand",
    "DeleteResourceCommand",
    "ResumeWorkflowCommand",
    "StartWorkflowCommand",
    "UpdateResourceCommand",
)
