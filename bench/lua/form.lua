-- The HTML checkout form: each line of the prepared file is one rendered, unused form
-- (path, session cookie, urlencoded body with the CSRF and idempotency tokens).
-- args: forms_file threads
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local forms, stride, n

function init(args)
  forms = {}
  stride = tonumber(args[2])
  for line in io.lines(args[1]) do
    local path, cookie, body = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
    table.insert(forms, {path = path, cookie = cookie, body = body})
  end
  n = 0
end

function request()
  local index = (tid - 1) + n * stride
  n = n + 1
  if index >= #forms then
    wrapped = wrapped + 1
    index = index % #forms
  end
  local form = forms[index + 1]
  local headers = {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Cookie"] = form.cookie,
  }
  return wrk.format("POST", form.path, headers, form.body)
end
