/* Preprocessor-free declarations of include/o365.h for PHP FFI::cdef. Generated. */
typedef struct o365_client o365_client;
typedef int32_t o365_status;
const char *o365_version(void);
uint32_t o365_abi_version(void);
o365_status o365_client_new(const char *config_json, o365_client **out_client, char **out_json);
void o365_client_free(o365_client *client);
void o365_string_free(char *s);
o365_status o365_next_event(o365_client *client, uint32_t timeout_ms, char **out_json);
o365_status o365_ack_event(o365_client *client, const char *event_id, char **out_json);
o365_status o365_import_mailbox(o365_client *client, const char *request_json, char **out_json);
o365_status o365_list_mailboxes(o365_client *client, const char *request_json, char **out_json);
o365_status o365_get_mailbox(o365_client *client, const char *request_json, char **out_json);
o365_status o365_update_mailbox(o365_client *client, const char *request_json, char **out_json);
o365_status o365_remove_mailbox(o365_client *client, const char *request_json, char **out_json);
o365_status o365_debug_panic(o365_client *client, const char *request_json, char **out_json);
o365_status o365_debug_emit_event(o365_client *client, const char *request_json, char **out_json);
