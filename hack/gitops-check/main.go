// gitops-check runs the GitOps health checks with the engines the tools themselves use:
// gopher-lua (Argo CD's Lua) for health.lua and cel-go (Flux's CEL) for healthCheckExprs.
//
//	gitops-check lua SCRIPT OBJECT.json   -> {"status": ..., "message": ...}
//	gitops-check cel EXPR OBJECT.json     -> {"result": true|false} or {"error": ...}
//
// Objects are handed over the way the tools do: Argo CD as Lua tables (arrays 1-based,
// numbers as Lua numbers), Flux as the unstructured map (integers int64).
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/ext"
	lua "github.com/yuin/gopher-lua"
)

func readObject(path string) map[string]any {
	data, err := os.ReadFile(path)
	if err != nil {
		fail(err)
	}
	decoder := json.NewDecoder(bytes.NewReader(data))
	decoder.UseNumber()
	var obj map[string]any
	if err := decoder.Decode(&obj); err != nil {
		fail(err)
	}
	return normalise(obj).(map[string]any)
}

// normalise turns json.Number into int64 or float64, as apimachinery's unstructured does.
func normalise(value any) any {
	switch v := value.(type) {
	case map[string]any:
		for key, item := range v {
			v[key] = normalise(item)
		}
		return v
	case []any:
		for i, item := range v {
			v[i] = normalise(item)
		}
		return v
	case json.Number:
		if n, err := v.Int64(); err == nil {
			return n
		}
		f, _ := v.Float64()
		return f
	}
	return value
}

func toLua(state *lua.LState, value any) lua.LValue {
	switch v := value.(type) {
	case map[string]any:
		table := state.NewTable()
		for key, item := range v {
			table.RawSetString(key, toLua(state, item))
		}
		return table
	case []any:
		table := state.NewTable()
		for _, item := range v {
			table.Append(toLua(state, item))
		}
		return table
	case string:
		return lua.LString(v)
	case bool:
		return lua.LBool(v)
	case int64:
		return lua.LNumber(v)
	case float64:
		return lua.LNumber(v)
	}
	return lua.LNil
}

func runLua(scriptPath, objectPath string) map[string]any {
	script, err := os.ReadFile(scriptPath)
	if err != nil {
		fail(err)
	}
	state := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer state.Close()
	// the libraries Argo CD opens for health scripts
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{{lua.LoadLibName, lua.OpenPackage}, {lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable}, {lua.StringLibName, lua.OpenString}, {lua.MathLibName, lua.OpenMath}} {
		state.Push(state.NewFunction(lib.open))
		state.Push(lua.LString(lib.name))
		state.Call(1, 0)
	}
	state.SetGlobal("obj", toLua(state, readObject(objectPath)))
	if err := state.DoString(string(script)); err != nil {
		return map[string]any{"error": err.Error()}
	}
	hs, ok := state.Get(-1).(*lua.LTable)
	if !ok {
		return map[string]any{"error": "the script returned no table"}
	}
	return map[string]any{
		"status":  hs.RawGetString("status").String(),
		"message": hs.RawGetString("message").String(),
	}
}

func runCEL(expr, objectPath string) map[string]any {
	// Flux parses healthCheckExprs without declaring variables (not every CRD has the
	// five standard top-level fields) and evaluates them on the object's fields.
	env, err := cel.NewEnv(cel.CrossTypeNumericComparisons(true), cel.OptionalTypes(), ext.Strings())
	if err != nil {
		fail(err)
	}
	ast, issues := env.Parse(expr)
	if issues != nil && issues.Err() != nil {
		return map[string]any{"error": issues.Err().Error()}
	}
	program, err := env.Program(ast)
	if err != nil {
		return map[string]any{"error": err.Error()}
	}
	out, _, err := program.Eval(readObject(objectPath))
	if err != nil {
		return map[string]any{"error": err.Error()}
	}
	result, ok := out.Value().(bool)
	if !ok {
		return map[string]any{"error": fmt.Sprintf("not a bool: %v", out.Value())}
	}
	return map[string]any{"result": result}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(2)
}

func main() {
	if len(os.Args) != 4 {
		fail(fmt.Errorf("usage: gitops-check lua SCRIPT OBJECT.json | cel EXPR OBJECT.json"))
	}
	var answer map[string]any
	switch os.Args[1] {
	case "lua":
		answer = runLua(os.Args[2], os.Args[3])
	case "cel":
		answer = runCEL(os.Args[2], os.Args[3])
	default:
		fail(fmt.Errorf("unknown check %q", os.Args[1]))
	}
	if err := json.NewEncoder(os.Stdout).Encode(answer); err != nil {
		fail(err)
	}
}
