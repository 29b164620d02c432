"""Streaming backend-for-frontend for agents on Amazon Bedrock AgentCore Runtime."""

__version__ = "0.1.0"
