"""Request and response bodies; OpenAI's shapes where OpenAI has one."""
