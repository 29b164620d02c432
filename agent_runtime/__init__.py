"""The agent runtime: a LangGraph agent served by a Bedrock AgentCore `BedrockAgentCoreApp`.

See docs/runtime.md for the design, the models, the tools and the settings.
"""
