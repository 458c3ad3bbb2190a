-- Argo CD health check for axiom.dev/AxiomModel (resource.customizations.health.axiom.dev_AxiomModel).
--
-- Argo CD runs this with gopher-lua (Lua 5.1) on the live object, `obj`. It reads what the
-- operator writes for any kstatus-aware tool: status.observedGeneration, and the conditions
-- Stalled / Reconciling (present only while True) and Ready (True only once spec.version
-- serves). Missing is Argo CD's own verdict for an object that is not in the cluster; this
-- script only ever sees objects that exist.
local hs = {}

local function condition(kind)
  if obj.status == nil or obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

local function says(c)
  if c.message ~= nil and c.message ~= "" then
    return c.reason .. ": " .. c.message
  end
  return c.reason
end

-- A status written for an older generation says nothing about the current spec: the operator
-- has not looked at the last change yet (or is not running).
if obj.status == nil or obj.status.observedGeneration == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the Axiom operator to report status"
  return hs
end
if obj.metadata.generation ~= nil and obj.status.observedGeneration ~= obj.metadata.generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the Axiom operator to observe generation " .. obj.metadata.generation
    .. " (status is of generation " .. obj.status.observedGeneration .. ")"
  return hs
end

local stalled = condition("Stalled")
if stalled ~= nil and stalled.status == "True" then
  -- refused certificate, invalid spec, failed canary, rolled-back spec.version, an object
  -- the operator does not own: nothing moves until someone changes something
  hs.status = "Degraded"
  hs.message = says(stalled)
  return hs
end

-- A paused canary waits for a person (axiom.dev/resume, promote or rollback), like a
-- suspended Argo Rollout.
if obj.status.phase == "Paused" then
  hs.status = "Suspended"
  hs.message = obj.status.message or "canary paused"
  return hs
end

local reconciling = condition("Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = says(reconciling)
  return hs
end

local ready = condition("Ready")
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = says(ready)
  return hs
end

-- An operator older than the kstatus conditions: the phase is all there is.
local phase = obj.status.phase
if phase == "Invalid" or phase == "Blocked" or phase == "Failed" or phase == "RolledBack" then
  hs.status = "Degraded"
  hs.message = obj.status.message or phase
  return hs
end
hs.status = "Progressing"
if ready ~= nil then
  hs.message = says(ready)
else
  hs.message = "Waiting for the Ready condition"
end
return hs
