"""Agents: the tool registry (timeouts, retries, circuit breakers), guardrails, agent runs."""
