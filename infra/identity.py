"""Who may call the BFF: a Cognito user pool whose JWKS the BFF trusts (`BFF_AUTH_MODE=jwt`).

Users are created by an administrator (no self sign-up). The app client is public (no client
secret, so none has to be shipped to a browser or a CLI) and signs users in by SRP; an operator
with IAM credentials can also get a token with `admin-initiate-auth` (docs/deploy.md). The BFF
checks signature, issuer, expiry and audience: Cognito puts the app client id in `aud` (ID
tokens) or `client_id` (access tokens), and `bff/auth.py` accepts either.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cognito as cognito
from constructs import Construct


class UserDirectory(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.pool = cognito.UserPool(
            self,
            "Users",
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(email=True),
            password_policy=cognito.PasswordPolicy(min_length=12),
            mfa=cognito.Mfa.OPTIONAL,
            mfa_second_factor=cognito.MfaSecondFactor(sms=False, otp=True),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            removal_policy=RemovalPolicy.RETAIN,  # users outlive a stack replacement
        )
        self.client = self.pool.add_client(
            "BffClient",
            generate_secret=False,
            auth_flows=cognito.AuthFlow(user_srp=True, admin_user_password=True),
            access_token_validity=Duration.hours(1),
            id_token_validity=Duration.hours(1),
            refresh_token_validity=Duration.days(30),
            prevent_user_existence_errors=True,
            disable_o_auth=True,  # no hosted sign-in page, so no OAuth flows (CDK's default enables implicit grant)
        )

    @property
    def issuer(self) -> str:
        stack = Stack.of(self)
        return f"https://cognito-idp.{stack.region}.{stack.url_suffix}/{self.pool.user_pool_id}"

    @property
    def jwks_url(self) -> str:
        return f"{self.issuer}/.well-known/jwks.json"

    @property
    def audience(self) -> str:
        return self.client.user_pool_client_id
