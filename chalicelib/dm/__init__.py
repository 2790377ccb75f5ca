"""Direct messages: conversations, messages, inbox, read state, requests, attachments, reports."""
