"""The chat model: Bedrock Converse when `AGENT_MODEL_ID` is set, otherwise the offline rules model."""

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
        endpoint_url=settings.bedrock_endpoint_url,
    )
