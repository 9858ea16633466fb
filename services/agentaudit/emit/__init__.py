"""Emitter SDK: what an agent runtime imports to publish its actions."""

from agentaudit.emit.control import AgentSuspended
from agentaudit.emit.emitter import Emitter, EmitterClosed, EmitterFull, Principal, Session
from agentaudit.emit.ids import uuid7
from agentaudit.emit.policy import BLOCK, RAISE, BufferFull

__all__ = ["BLOCK", "RAISE", "AgentSuspended", "BufferFull", "Emitter", "EmitterClosed", "EmitterFull", "Principal",
           "Session", "uuid7"]
