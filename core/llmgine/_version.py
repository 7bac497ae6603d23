__version__ = "0.2.1"

#: The distribution this core is installed as (``pip install llmgine-messages``); the import
#: package stays ``llmgine``. PyPI's ``llmgine`` is upstream LLMgine's unrelated framework.
DISTRIBUTION = "llmgine-messages"
#: The name plugins written for 0.2 and earlier require; honoured, with a warning, until 1.0.
LEGACY_DISTRIBUTION = "llmgine"
