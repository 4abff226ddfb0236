"""The Redis store: one hash per slot, one Lua script per operation.

Keys look like ``vc:{<account tag>}:<slot id>``. The braces are a Redis Cluster
hash tag: every slot of an account, and the account's index of slots, hash to
the same cluster slot, so each script touches one node and runs atomically.
The Lua mirrors the rules in ``base.decide_save`` and ``base.decide_spend``;
the shared contract tests hold both stores to them.
"""

from __future__ import annotations

import time
from typing import Any

import redis
from redis.commands.core import Script
from redis.exceptions import NoScriptError

from flask_emailcode.core.errors import StoreUnavailable
from flask_emailcode.core.outcomes import Outcome
from flask_emailcode.core.stores.base import Refusal, Rules, SaveResult, Slot, SpendResult

_PREFIX = "vc"

# Shared by the scripts below: ``all`` is the (account, purpose) sorted set of recent
# failures, scored by time, members ``<ms>:<client>:<n>``; ``mine`` holds the same
# members for one client alone. Returns the milliseconds until that client may try
# again under the cap and the ceiling. Each step is a count or a look-up by rank,
# so the cost does not grow with the number of failures kept.
_CAP_WAIT = """
local function cap_wait(all, mine, now, cap, ceiling, window)
  local wait = 0
  for _, limit in ipairs({{all, ceiling}, {mine, cap}}) do
    local key, most = limit[1], limit[2]
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
    local n = redis.call('ZCARD', key)
    if n >= most then
      local oldest = redis.call('ZRANGE', key, n - most, n - most, 'WITHSCORES')
      wait = math.max(wait, tonumber(oldest[2]) + window - now)
    end
  end
  return wait
end
"""

# The ``digest`` field holds the live codes, ``<hmac>@<expires_at>`` joined by ``,``.
_CODES = """
local function parse_codes(stored)
  local codes = {}
  for digest, expires in string.gmatch(stored or '', '([^,@]+)@(%d+)') do
    codes[#codes + 1] = {digest, tonumber(expires)}
  end
  return codes
end
local function join_codes(codes)
  local parts = {}
  for i, c in ipairs(codes) do parts[i] = c[1] .. '@' .. c[2] end
  return table.concat(parts, ',')
end
"""

# Fields: digest, state, failures, expires_at, resend_at, retain_until.
# ARGV: digest, now, ttl, cooldown, max_attempts, cap, window, ceiling, client, live_codes.
_SAVE = (
    _CAP_WAIT
    + _CODES
    + """
local now, max = tonumber(ARGV[2]), tonumber(ARGV[5])
local capped = cap_wait(KEYS[3], KEYS[4], now, tonumber(ARGV[6]), tonumber(ARGV[8]),
  tonumber(ARGV[7]))
if capped > 0 then return {'locked', capped} end
local h = redis.call('HMGET', KEYS[1], 'failures', 'resend_at', 'retain_until', 'state', 'digest')
local failures, retain = 0, 0
local kept = {}
if h[1] and tonumber(h[3]) > now then
  failures, retain = tonumber(h[1]), tonumber(h[3])
  if failures >= max then return {'locked', retain - now} end
  if now < tonumber(h[2]) then return {'cooldown', tonumber(h[2]) - now} end
  if h[4] == 'live' then
    for _, c in ipairs(parse_codes(h[5])) do
      if c[2] > now then kept[#kept + 1] = c end
    end
  end
end
local ttl, cooldown = tonumber(ARGV[3]), tonumber(ARGV[4])
kept[#kept + 1] = {ARGV[1], now + ttl}
while #kept > tonumber(ARGV[10]) do table.remove(kept, 1) end
local expires = 0
for _, c in ipairs(kept) do expires = math.max(expires, c[2]) end
retain = math.max(retain, now + ttl)
redis.call('HSET', KEYS[1], 'digest', join_codes(kept), 'state', 'live', 'failures', failures,
  'expires_at', expires, 'resend_at', now + cooldown, 'retain_until', retain)
redis.call('PEXPIRE', KEYS[1], retain - now)
redis.call('SADD', KEYS[2], KEYS[1])
if redis.call('PTTL', KEYS[2]) < retain - now then redis.call('PEXPIRE', KEYS[2], retain - now) end
return {'saved', #kept - 1}
"""
)

# The compare runs over every byte of every code whatever the input, like
# hmac.compare_digest. ARGV: digest, now, max_attempts, ttl, cap, window, ceiling, client.
_SPEND = (
    _CAP_WAIT
    + _CODES
    + """
local now, max, ttl = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local window = tonumber(ARGV[6])
local capped = cap_wait(KEYS[2], KEYS[3], now, tonumber(ARGV[5]), tonumber(ARGV[7]), window)
if capped > 0 then return {'capped', capped} end
local h = redis.call('HMGET', KEYS[1], 'digest', 'state', 'failures', 'expires_at', 'retain_until')
if not h[1] or tonumber(h[5]) <= now then return {'expired', 0} end
local failures = tonumber(h[3])
if h[2] ~= 'live' or failures >= max then return {'used_up', 0} end
local b = ARGV[1]
local matched, alive = nil, false
for _, c in ipairs(parse_codes(h[1])) do
  local a = c[1]
  local diff = (#a == #b) and 0 or 1
  for i = 1, #b do
    diff = bit.bor(diff, bit.bxor(string.byte(a, i) or 0, string.byte(b, i)))
  end
  if diff == 0 then matched = c[2] end
  if now < c[2] then alive = true end
end
if matched then
  if now >= matched then return {'expired', 0} end
  redis.call('HSET', KEYS[1], 'state', 'spent', 'digest', '', 'failures', 0)
  return {'ok', 0}
end
if not alive then return {'expired', 0} end
failures = failures + 1
local retain = math.max(tonumber(h[5]), now + ttl)
redis.call('HSET', KEYS[1], 'failures', failures, 'retain_until', retain)
redis.call('PEXPIRE', KEYS[1], retain - now)
local failure = now .. ':' .. ARGV[8] .. ':' .. redis.call('ZCARD', KEYS[2])
for i = 2, 3 do
  redis.call('ZADD', KEYS[i], now, failure)
  redis.call('PEXPIRE', KEYS[i], window)
end
return {'wrong', max - failures}
"""
)

_WITHDRAW = (
    _CODES
    + """
local h = redis.call('HMGET', KEYS[1], 'digest', 'state')
if h[2] ~= 'live' then return 0 end
local codes, kept = parse_codes(h[1]), {}
for _, c in ipairs(codes) do
  if c[1] ~= ARGV[1] then kept[#kept + 1] = c end
end
if #kept == #codes then return 0 end
local state = (#kept == 0) and 'void' or 'live'
redis.call('HSET', KEYS[1], 'state', state, 'digest', join_codes(kept))
if ARGV[3] == '1' then redis.call('HSET', KEYS[1], 'resend_at', ARGV[2]) end
return 1
"""
)

# Members of the index share its hash tag, so they live on the same cluster node.
_REVOKE = """
local n = 0
for _, key in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local state = redis.call('HGET', key, 'state')
  if not state then
    redis.call('SREM', KEYS[1], key)
  elseif state == 'live' then
    redis.call('HSET', key, 'state', 'void', 'digest', '')
    n = n + 1
  end
end
return n
"""


# How many replicas the master has a link to now, as its INFO says.
_CONNECTED_REPLICAS = (
    "return tonumber(string.match(redis.call('INFO', 'replication'), "
    "'connected_slaves:(%d+)')) or 0"
)


class _Unconfirmed(Exception):
    """A write no replica confirmed in time."""


class RedisCodeStore:
    """Slots as Redis hashes that expire on their own.

    With ``replicas``, a new code and a right code's spend stand only once that many
    of the master's replicas hold them (``WAIT``, for at most ``wait_ms``). Redis
    replicates after it answers, so a master lost just after would hand a replica a
    code it never saw (and that was already mailed), or a code still unspent that
    would work again. Either unconfirmed raises ``StoreUnavailable``: the new code is
    taken back first; a spend stays spent. A master with no replica (one just
    promoted, before its old master returns to follow it) is not waited on.
    """

    def __init__(
        self, client: redis.Redis, *, replicas: int = 0, wait_ms: int = 250, prefix: str = _PREFIX
    ) -> None:
        if not prefix or any(ch in prefix for ch in "{}: "):
            raise ValueError(f"bad key prefix: {prefix!r}")
        self._client = client
        # Two apps sharing one Redis keep their slots apart by prefix.
        self._prefix = prefix
        self._replicas = replicas
        self._wait_ms = wait_ms
        self._save: Script = client.register_script(_SAVE)
        self._spend: Script = client.register_script(_SPEND)
        self._withdraw: Script = client.register_script(_WITHDRAW)
        self._revoke: Script = client.register_script(_REVOKE)
        self._count_replicas: Script = client.register_script(_CONNECTED_REPLICAS)
        # (replicas the master had, when it was asked): replicas are waited for where
        # they exist, and none are waited for where none do.
        self._seen = (replicas, 0.0)

    @classmethod
    def from_url(cls, url: str, *, prefix: str = _PREFIX, **options: Any) -> RedisCodeStore:
        options.setdefault("socket_timeout", 1.0)
        options.setdefault("socket_connect_timeout", 1.0)
        return cls(redis.Redis.from_url(url, **options), prefix=prefix)

    def save(self, slot: Slot, *, digest: str, now: int, rules: Rules, client: str) -> SaveResult:
        keys = [self._slot_key(slot), self._index_key(slot.account), self._failures_key(slot)]
        keys.append(self._failures_key(slot, client))
        args = [digest, now, rules.ttl, rules.cooldown, rules.max_attempts, rules.cap]
        args += [rules.window, rules.ceiling, client, rules.live_codes]
        try:
            kind, number = self._durable(self._save, keys, args, done="saved")
        except _Unconfirmed as exc:
            # Not kept where it would survive the master: take it back, cooldown and all,
            # so that asking again once Redis is whole is not refused as too soon.
            self.withdraw(slot, digest=digest, now=now, reopen=True)
            raise StoreUnavailable("redis: no replica confirmed the new code in time") from exc
        if kind == "saved":
            return SaveResult(earlier=int(number))
        return SaveResult(Refusal(kind), int(number))

    def spend(self, slot: Slot, *, digest: str, now: int, rules: Rules, client: str) -> SpendResult:
        keys = [self._slot_key(slot), self._failures_key(slot), self._failures_key(slot, client)]
        args = [digest, now, rules.max_attempts, rules.ttl, rules.cap, rules.window]
        args += [rules.ceiling, client]
        try:
            kind, number = self._durable(self._spend, keys, args, done=Outcome.OK.value)
        except _Unconfirmed as exc:
            raise StoreUnavailable("redis: no replica confirmed the spend in time") from exc
        if kind == "capped":
            return SpendResult(None, 0, int(number))
        return SpendResult(Outcome(kind), int(number))

    def withdraw(self, slot: Slot, *, digest: str, now: int, reopen: bool = True) -> bool:
        reopening = "1" if reopen else "0"
        return bool(self._call(self._withdraw, [self._slot_key(slot)], [digest, now, reopening]))

    def revoke_account(self, account: str, *, now: int) -> int:
        return int(self._call(self._revoke, [self._index_key(account)], []))

    def ping(self) -> None:
        # A write, not a PING: a master that may not write (too few replicas, or
        # demoted) still answers PING, and every operation here writes.
        self._call(lambda **_: self._client.set(f"{self._prefix}:ping", "1", px=1000), [], [])

    def _durable(self, script: Script, keys: list[str], args: list[Any], *, done: str) -> Any:
        """Run ``script``; with ``replicas``, an answer of ``done`` stands only once the
        master's replicas, up to that many, hold it (``WAIT``, in the same round trip)."""
        if not self._replicas:
            return self._call(script, keys, args)
        wanted = self._replicas_to_wait_for()
        answer, confirmed = self._call(self._and_wait, keys, [script, wanted, *args])
        if answer[0] != done or confirmed >= wanted:
            return answer
        # Fewer than asked for: a replica lags, or there is none to ask any more (a
        # master just promoted, whose old master has not come back to follow it).
        # The master's own count says which.
        self._seen = (min(self._replicas, self._connected_replicas()), time.monotonic())
        if confirmed < self._seen[0]:
            raise _Unconfirmed
        return answer

    def _replicas_to_wait_for(self) -> int:
        """The replicas the master was last seen with; while none, looked at once a second."""
        count, at = self._seen
        if count == 0 and time.monotonic() - at >= 1.0:
            count = min(self._replicas, self._connected_replicas())
            self._seen = (count, time.monotonic())
        return count

    def _connected_replicas(self) -> int:
        return int(self._call(self._count_replicas, [], []))

    def _and_wait(self, *, keys: list[str], args: list[Any]) -> list[Any]:
        script, wanted, *values = args
        for _ in range(2):
            # One pipeline is one connection: WAIT counts that connection's writes.
            pipe = self._client.pipeline(transaction=False)
            pipe.evalsha(script.sha, len(keys), *keys, *values)
            if wanted:
                pipe.wait(wanted, self._wait_ms)
            try:
                answer, *confirmed = pipe.execute()
            except NoScriptError:
                # A master new since the last call (a failover) has not seen the script.
                self._client.script_load(script.script)
                continue
            return [[_text(item) for item in answer], int(confirmed[0]) if confirmed else 0]
        raise StoreUnavailable("redis: a script could not be loaded")

    def _call(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        try:
            result = script(keys=keys, args=args)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise StoreUnavailable(f"redis: {exc}") from exc
        except redis.ResponseError as exc:
            # A master short of the replicas it must write to (min-replicas-to-write),
            # or one demoted to a replica: nothing was written, and nothing may be.
            if isinstance(exc, redis.ReadOnlyError) or str(exc).startswith("NOREPLICAS"):
                raise StoreUnavailable(f"redis: {exc}") from exc
            raise
        if isinstance(result, list):
            return [_text(item) for item in result]
        return result

    def _slot_key(self, slot: Slot) -> str:
        return f"{self._prefix}:{{{slot.account}}}:{slot.id}"

    def _failures_key(self, slot: Slot, client: str | None = None) -> str:
        """The slot's account and purpose's failures; with ``client``, that client's alone."""
        key = f"{self._prefix}:{{{slot.account}}}:failures:{slot.purpose}"
        return key if client is None else f"{key}:{client}"

    def _index_key(self, account: str) -> str:
        return f"{self._prefix}:{{{account}}}:slots"


def _text(item: Any) -> Any:
    return item.decode() if isinstance(item, bytes) else item
