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

import os

# jsii runs the CDK on the machine's Node.js; on Node 20 (past its end of life) it prints a large
# banner on every start. The app works on it; docs/deploy.md recommends Node 22+ for deploying.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
