"""The AWS CDK app that deploys the stack: `make synth` writes the CloudFormation to infra/cdk.out.

    app.py        entry point (`python infra/app.py`, or `cdk` with infra/cdk.json)
    config.py     DeployConfig: every setting, read once from CDK context
    stack.py      AgentCoreBffStack: the VPC and the parts below, wired together, and its outputs
    runtime.py    the agent image (ECR asset), the AgentCore Runtime, its execution role, Memory
    cache.py      ElastiCache for Valkey: the BFF's run event logs and rate limits
    identity.py   the Cognito user pool whose JWKS the BFF trusts
    services.py   the BFF and the UI on ECS Fargate behind an Application Load Balancer

docs/deploy.md says how to deploy, update, roll back, and what it costs.
"""
