package gatewaytest

import (
	"encoding/json"
	"fmt"
	"strings"
)

// api is the wire format a path asks for.
type api int

const (
	apiChat api = iota
	apiMessages
	apiResponses
	apiModels
)

func apiOf(path string) api {
	switch {
	case strings.HasSuffix(path, "/messages"):
		return apiMessages
	case strings.HasSuffix(path, "/responses"):
		return apiResponses
	case strings.HasSuffix(path, "/models"):
		return apiModels
	}
	return apiChat
}

// errorBody is an error in the API's own format: Anthropic's for
// /messages, OpenAI's for the rest.
func (a api) errorBody(code, typ, msg string) any {
	if a == apiMessages {
		return map[string]any{"type": "error", "error": map[string]string{"type": typ, "message": msg}}
	}
	return map[string]any{"error": map[string]any{"message": msg, "type": typ, "code": code, "param": nil}}
}

// message is the non-streaming answer.
func (a api) message(model string) any {
	switch a {
	case apiMessages:
		return map[string]any{
			"id": "msg_fake", "type": "message", "role": "assistant", "model": model,
			"content":     []any{map[string]any{"type": "text", "text": Text}},
			"stop_reason": "end_turn", "stop_sequence": nil,
			"usage": map[string]int{"input_tokens": 3, "output_tokens": 5},
		}
	case apiResponses:
		return map[string]any{
			"id": "resp_fake", "object": "response", "status": "completed", "model": model,
			"output": []any{assistantItem()},
			"usage":  map[string]int{"input_tokens": 3, "output_tokens": 5, "total_tokens": 8},
		}
	}
	return map[string]any{
		"id": "chatcmpl-fake", "object": "chat.completion", "created": 1700000000, "model": model,
		"choices": []any{map[string]any{
			"index": 0, "finish_reason": "stop",
			"message": map[string]any{"role": "assistant", "content": Text},
		}},
		"usage": map[string]int{"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8},
	}
}

func assistantItem() map[string]any {
	return map[string]any{
		"type": "message", "id": "msg_fake", "role": "assistant", "status": "completed",
		"content": []any{map[string]any{"type": "output_text", "text": Text, "annotations": []any{}}},
	}
}

// events are a stream's frames: what comes before the text, one frame per
// piece of StreamPieces, and what comes after.
func (a api) events(model string) (pre, pieces, post []string) {
	switch a {
	case apiMessages:
		pre = []string{
			named("message_start", map[string]any{"type": "message_start", "message": map[string]any{
				"id": "msg_fake", "type": "message", "role": "assistant", "model": model, "content": []any{},
				"stop_reason": nil, "stop_sequence": nil, "usage": map[string]int{"input_tokens": 3, "output_tokens": 0}}}),
			named("content_block_start", map[string]any{"type": "content_block_start", "index": 0,
				"content_block": map[string]any{"type": "text", "text": ""}}),
		}
		for _, p := range StreamPieces {
			pieces = append(pieces, named("content_block_delta", map[string]any{"type": "content_block_delta", "index": 0,
				"delta": map[string]any{"type": "text_delta", "text": p}}))
		}
		post = []string{
			named("content_block_stop", map[string]any{"type": "content_block_stop", "index": 0}),
			named("message_delta", map[string]any{"type": "message_delta",
				"delta": map[string]any{"stop_reason": "end_turn", "stop_sequence": nil}, "usage": map[string]int{"output_tokens": 5}}),
			named("message_stop", map[string]any{"type": "message_stop"}),
		}
	case apiResponses:
		created := map[string]any{"id": "resp_fake", "object": "response", "status": "in_progress", "model": model, "output": []any{}}
		pre = []string{
			named("response.created", map[string]any{"type": "response.created", "response": created}),
			named("response.output_item.added", map[string]any{"type": "response.output_item.added", "output_index": 0,
				"item": map[string]any{"type": "message", "id": "msg_fake", "role": "assistant", "status": "in_progress", "content": []any{}}}),
		}
		for _, p := range StreamPieces {
			pieces = append(pieces, named("response.output_text.delta", map[string]any{"type": "response.output_text.delta",
				"item_id": "msg_fake", "output_index": 0, "content_index": 0, "delta": p}))
		}
		done := a.message(model)
		post = []string{
			named("response.output_item.done", map[string]any{"type": "response.output_item.done", "output_index": 0, "item": assistantItem()}),
			named("response.completed", map[string]any{"type": "response.completed", "response": done}),
		}
	default:
		chunk := func(delta map[string]any, finish any) string {
			return data(map[string]any{"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1700000000, "model": model,
				"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}}})
		}
		pre = []string{chunk(map[string]any{"role": "assistant", "content": ""}, nil)}
		for _, p := range StreamPieces {
			pieces = append(pieces, chunk(map[string]any{"content": p}, nil))
		}
		post = []string{chunk(map[string]any{}, "stop"), "data: [DONE]\n\n"}
	}
	return pre, pieces, post
}

func data(v any) string {
	b, _ := json.Marshal(v)
	return fmt.Sprintf("data: %s\n\n", b)
}

func named(event string, v any) string {
	return "event: " + event + "\n" + data(v)
}
