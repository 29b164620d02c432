"""The chat model: Bedrock Converse when `AGENT_MODEL_ID` is set, otherwise the offline rules model.

Streaming is forced on (`disable_streaming=False`): langchain-aws otherwise falls back to the
non-streaming Converse API for model ids it does not recognise, and this runtime exists to stream.
Choose a model that streams tool use through ConverseStream (Claude, Nova, ...).
"""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel

from agent_runtime.offline_model import OfflineRulesModel
from agent_runtime.settings import Settings


def build_model(settings: Settings) -> BaseChatModel:
    if not settings.model_id:
        return OfflineRulesModel(token_delay_s=settings.offline_token_delay_s)
    from langchain_aws import ChatBedrockConverse

    return ChatBedrockConverse(
        model=settings.model_id,
        region_name=settings.aws_region,
        base_url=settings.bedrock_endpoint_url,  # the alias of its endpoint_url field
        disable_streaming=False,
    )
