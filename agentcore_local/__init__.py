"""A local stand-in for the Amazon Bedrock AgentCore Runtime data plane (dev and tests only).

`python -m agentcore_local` serves, on 127.0.0.1:8090, the two data-plane operations the BFF
calls through aioboto3, with the service's paths, headers and error shapes, and forwards
invocations to a runtime container's `/invocations` (docs/architecture.md). See `app.py`.
"""
