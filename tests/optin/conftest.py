"""The opt-in GenAI tier: a real generative model (SmolLM2 through llama-cpp-python, which
compiles from source for about 45 minutes) and its OpenAI-compatible server. Run with
``bash .ci/genai-llm-tier``; the default test run does not collect this folder (it needs
packages the default install does not have)."""
