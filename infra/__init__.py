"""Deployment: the SAM/CloudFormation package generator (``python -m infra.package``),
IAM per function, parameters, the stateful resources (``template.yaml``) and delivery rules."""
