"""Wire shapes and pure bookkeeping shared by both ends of the agent protocol: the server
(`api/agent_channel.py`, `api/agent_desired.py`) and the agent (`agent/`) import these
and never each other."""
