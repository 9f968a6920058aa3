/**
 * Every directive name nginx 1.22 knows in its own modules (main, events, http, stream, mail) and
 * in the modules OpenResty bundles (plus nchan, which Debian's nginx-extras loads): data, read
 * off the names of those modules' `ngx_command_t` tables. The builder answers a name here that
 * no gateway module owns with `"X" directive is not supported yet`, and a name that is in no
 * table with `unknown directive "X"` (a typo, or a module nginx does not have either).
 */

/** The names, per module family (each a space-separated list). */
export const NGINX_DIRECTIVE_GROUPS: Readonly<Record<string, string>> = {
  "nginx 1.22 main and events (core, errlog, events, event modules, thread_pool, regex, openssl)":
    "include daemon master_process timer_resolution pid lock_file worker_processes debug_points user " +
    "worker_priority worker_cpu_affinity worker_rlimit_nofile worker_rlimit_core " +
    "worker_shutdown_timeout working_directory env load_module devpoll_changes devpoll_events " +
    "epoll_events worker_aio_requests error_log worker_connections use multi_accept accept_mutex " +
    "accept_mutex_delay debug_connection eventport_events events google_perftools_profiles " +
    "iocp_threads post_acceptex acceptex_read kqueue_changes kqueue_events ssl_engine pcre_jit " +
    "thread_pool",
  "nginx 1.22 http modules (ngx_http_*: core, rewrite, map, proxy, fastcgi, uwsgi, scgi, grpc, ssl, v2, gzip, ...)":
    "allow deny add_before_body add_after_body addition_types auth_basic auth_basic_user_file " +
    "auth_request auth_request_set autoindex autoindex_format autoindex_localtime " +
    "autoindex_exact_size modern_browser ancient_browser modern_browser_value ancient_browser_value " +
    "charset source_charset override_charset charset_types charset_map http output_buffers " +
    "variables_hash_max_size variables_hash_bucket_size server_names_hash_max_size " +
    "server_names_hash_bucket_size server connection_pool_size request_pool_size " +
    "client_header_timeout client_header_buffer_size large_client_header_buffers " +
    "ignore_invalid_headers merge_slashes underscores_in_headers location listen server_name " +
    "types_hash_max_size types_hash_bucket_size types default_type root alias limit_except " +
    "client_max_body_size client_body_buffer_size client_body_timeout client_body_temp_path " +
    "client_body_in_file_only client_body_in_single_buffer sendfile sendfile_max_chunk " +
    "subrequest_output_buffer_size aio aio_write read_ahead directio directio_alignment tcp_nopush " +
    "tcp_nodelay send_timeout send_lowat postpone_output limit_rate limit_rate_after keepalive_time " +
    "keepalive_timeout keepalive_requests keepalive_disable satisfy auth_delay internal " +
    "lingering_close lingering_time lingering_timeout reset_timedout_connection absolute_redirect " +
    "server_name_in_redirect port_in_redirect msie_padding msie_refresh log_not_found log_subrequest " +
    "recursive_error_pages server_tokens if_modified_since max_ranges chunked_transfer_encoding etag " +
    "error_page post_action error_log open_file_cache open_file_cache_valid open_file_cache_min_uses " +
    "open_file_cache_errors open_file_cache_events resolver resolver_timeout gzip_vary " +
    "gzip_http_version gzip_proxied gzip_disable disable_symlinks dav_methods create_full_put_path " +
    "min_delete_depth dav_access degradation degrade empty_gif fastcgi_pass fastcgi_index " +
    "fastcgi_split_path_info fastcgi_store fastcgi_store_access fastcgi_buffering " +
    "fastcgi_request_buffering fastcgi_ignore_client_abort fastcgi_bind fastcgi_socket_keepalive " +
    "fastcgi_connect_timeout fastcgi_send_timeout fastcgi_send_lowat fastcgi_buffer_size " +
    "fastcgi_pass_request_headers fastcgi_pass_request_body fastcgi_intercept_errors " +
    "fastcgi_read_timeout fastcgi_buffers fastcgi_busy_buffers_size fastcgi_force_ranges " +
    "fastcgi_limit_rate fastcgi_cache fastcgi_cache_key fastcgi_cache_path fastcgi_cache_bypass " +
    "fastcgi_no_cache fastcgi_cache_valid fastcgi_cache_min_uses fastcgi_cache_max_range_offset " +
    "fastcgi_cache_use_stale fastcgi_cache_methods fastcgi_cache_lock fastcgi_cache_lock_timeout " +
    "fastcgi_cache_lock_age fastcgi_cache_revalidate fastcgi_cache_background_update " +
    "fastcgi_temp_path fastcgi_max_temp_file_size fastcgi_temp_file_write_size fastcgi_next_upstream " +
    "fastcgi_next_upstream_tries fastcgi_next_upstream_timeout fastcgi_param fastcgi_pass_header " +
    "fastcgi_hide_header fastcgi_ignore_headers fastcgi_catch_stderr fastcgi_keep_conn flv geo " +
    "geoip_country geoip_org geoip_city geoip_proxy geoip_proxy_recursive grpc_pass grpc_bind " +
    "grpc_socket_keepalive grpc_connect_timeout grpc_send_timeout grpc_intercept_errors " +
    "grpc_buffer_size grpc_read_timeout grpc_next_upstream grpc_next_upstream_tries " +
    "grpc_next_upstream_timeout grpc_set_header grpc_pass_header grpc_hide_header grpc_ignore_headers " +
    "grpc_ssl_session_reuse grpc_ssl_protocols grpc_ssl_ciphers grpc_ssl_name grpc_ssl_server_name " +
    "grpc_ssl_verify grpc_ssl_verify_depth grpc_ssl_trusted_certificate grpc_ssl_crl " +
    "grpc_ssl_certificate grpc_ssl_certificate_key grpc_ssl_password_file grpc_ssl_conf_command " +
    "gunzip gunzip_buffers gzip gzip_buffers gzip_types gzip_comp_level gzip_window gzip_hash " +
    "postpone_gzipping gzip_no_buffer gzip_min_length gzip_static expires add_header add_trailer " +
    "image_filter image_filter_jpeg_quality image_filter_webp_quality image_filter_sharpen " +
    "image_filter_transparency image_filter_interlace image_filter_buffer index limit_conn_zone " +
    "limit_conn limit_conn_log_level limit_conn_status limit_conn_dry_run limit_req_zone limit_req " +
    "limit_req_log_level limit_req_status limit_req_dry_run log_format access_log open_log_file_cache " +
    "map map_hash_max_size map_hash_bucket_size memcached_pass memcached_bind " +
    "memcached_socket_keepalive memcached_connect_timeout memcached_send_timeout " +
    "memcached_buffer_size memcached_read_timeout memcached_next_upstream " +
    "memcached_next_upstream_tries memcached_next_upstream_timeout memcached_gzip_flag mirror " +
    "mirror_request_body mp4 mp4_buffer_size mp4_max_buffer_size mp4_start_key_frame perl_modules " +
    "perl_require perl perl_set proxy_pass proxy_redirect proxy_cookie_domain proxy_cookie_path " +
    "proxy_cookie_flags proxy_store proxy_store_access proxy_buffering proxy_request_buffering " +
    "proxy_ignore_client_abort proxy_bind proxy_socket_keepalive proxy_connect_timeout " +
    "proxy_send_timeout proxy_send_lowat proxy_intercept_errors proxy_set_header " +
    "proxy_headers_hash_max_size proxy_headers_hash_bucket_size proxy_set_body proxy_method " +
    "proxy_pass_request_headers proxy_pass_request_body proxy_buffer_size proxy_read_timeout " +
    "proxy_buffers proxy_busy_buffers_size proxy_force_ranges proxy_limit_rate proxy_cache " +
    "proxy_cache_key proxy_cache_path proxy_cache_bypass proxy_no_cache proxy_cache_valid " +
    "proxy_cache_min_uses proxy_cache_max_range_offset proxy_cache_use_stale proxy_cache_methods " +
    "proxy_cache_lock proxy_cache_lock_timeout proxy_cache_lock_age proxy_cache_revalidate " +
    "proxy_cache_convert_head proxy_cache_background_update proxy_temp_path proxy_max_temp_file_size " +
    "proxy_temp_file_write_size proxy_next_upstream proxy_next_upstream_tries " +
    "proxy_next_upstream_timeout proxy_pass_header proxy_hide_header proxy_ignore_headers " +
    "proxy_http_version proxy_ssl_session_reuse proxy_ssl_protocols proxy_ssl_ciphers proxy_ssl_name " +
    "proxy_ssl_server_name proxy_ssl_verify proxy_ssl_verify_depth proxy_ssl_trusted_certificate " +
    "proxy_ssl_crl proxy_ssl_certificate proxy_ssl_certificate_key proxy_ssl_password_file " +
    "proxy_ssl_conf_command random_index set_real_ip_from real_ip_header real_ip_recursive " +
    "valid_referers referer_hash_max_size referer_hash_bucket_size rewrite return break if set " +
    "rewrite_log uninitialized_variable_warn scgi_pass scgi_store scgi_store_access scgi_buffering " +
    "scgi_request_buffering scgi_ignore_client_abort scgi_bind scgi_socket_keepalive " +
    "scgi_connect_timeout scgi_send_timeout scgi_buffer_size scgi_pass_request_headers " +
    "scgi_pass_request_body scgi_intercept_errors scgi_read_timeout scgi_buffers " +
    "scgi_busy_buffers_size scgi_force_ranges scgi_limit_rate scgi_cache scgi_cache_key " +
    "scgi_cache_path scgi_cache_bypass scgi_no_cache scgi_cache_valid scgi_cache_min_uses " +
    "scgi_cache_max_range_offset scgi_cache_use_stale scgi_cache_methods scgi_cache_lock " +
    "scgi_cache_lock_timeout scgi_cache_lock_age scgi_cache_revalidate scgi_cache_background_update " +
    "scgi_temp_path scgi_max_temp_file_size scgi_temp_file_write_size scgi_next_upstream " +
    "scgi_next_upstream_tries scgi_next_upstream_timeout scgi_param scgi_pass_header scgi_hide_header " +
    "scgi_ignore_headers secure_link secure_link_md5 secure_link_secret slice split_clients ssi " +
    "ssi_silent_errors ssi_ignore_recycled_buffers ssi_min_file_chunk ssi_value_length ssi_types " +
    "ssi_last_modified ssl ssl_certificate ssl_certificate_key ssl_password_file ssl_dhparam " +
    "ssl_ecdh_curve ssl_protocols ssl_ciphers ssl_buffer_size ssl_verify_client ssl_verify_depth " +
    "ssl_client_certificate ssl_trusted_certificate ssl_prefer_server_ciphers ssl_session_cache " +
    "ssl_session_tickets ssl_session_ticket_key ssl_session_timeout ssl_crl ssl_ocsp " +
    "ssl_ocsp_responder ssl_ocsp_cache ssl_stapling ssl_stapling_file ssl_stapling_responder " +
    "ssl_stapling_verify ssl_early_data ssl_conf_command ssl_reject_handshake stub_status sub_filter " +
    "sub_filter_types sub_filter_once sub_filter_last_modified try_files upstream hash ip_hash " +
    "keepalive least_conn random zone userid userid_service userid_name userid_domain userid_path " +
    "userid_expires userid_flags userid_p3p userid_mark uwsgi_pass uwsgi_modifier1 uwsgi_modifier2 " +
    "uwsgi_store uwsgi_store_access uwsgi_buffering uwsgi_request_buffering uwsgi_ignore_client_abort " +
    "uwsgi_bind uwsgi_socket_keepalive uwsgi_connect_timeout uwsgi_send_timeout uwsgi_buffer_size " +
    "uwsgi_pass_request_headers uwsgi_pass_request_body uwsgi_intercept_errors uwsgi_read_timeout " +
    "uwsgi_buffers uwsgi_busy_buffers_size uwsgi_force_ranges uwsgi_limit_rate uwsgi_cache " +
    "uwsgi_cache_key uwsgi_cache_path uwsgi_cache_bypass uwsgi_no_cache uwsgi_cache_valid " +
    "uwsgi_cache_min_uses uwsgi_cache_max_range_offset uwsgi_cache_use_stale uwsgi_cache_methods " +
    "uwsgi_cache_lock uwsgi_cache_lock_timeout uwsgi_cache_lock_age uwsgi_cache_revalidate " +
    "uwsgi_cache_background_update uwsgi_temp_path uwsgi_max_temp_file_size " +
    "uwsgi_temp_file_write_size uwsgi_next_upstream uwsgi_next_upstream_tries " +
    "uwsgi_next_upstream_timeout uwsgi_param uwsgi_string uwsgi_pass_header uwsgi_hide_header " +
    "uwsgi_ignore_headers uwsgi_ssl_session_reuse uwsgi_ssl_protocols uwsgi_ssl_ciphers " +
    "uwsgi_ssl_name uwsgi_ssl_server_name uwsgi_ssl_verify uwsgi_ssl_verify_depth " +
    "uwsgi_ssl_trusted_certificate uwsgi_ssl_crl uwsgi_ssl_certificate uwsgi_ssl_certificate_key " +
    "uwsgi_ssl_password_file uwsgi_ssl_conf_command http2_recv_buffer_size http2_pool_size " +
    "http2_max_concurrent_streams http2_max_concurrent_pushes http2_max_requests http2_max_field_size " +
    "http2_max_header_size http2_body_preread_size http2_streams_index_size http2_recv_timeout " +
    "http2_idle_timeout http2_chunk_size http2_push_preload http2_push xml_entities xslt_stylesheet " +
    "xslt_param xslt_string_param xslt_types xslt_last_modified",
  "nginx 1.22 stream modules":
    "allow deny stream variables_hash_max_size variables_hash_bucket_size server listen error_log " +
    "resolver resolver_timeout proxy_protocol_timeout tcp_nodelay preread_buffer_size preread_timeout " +
    "geo geoip_country geoip_org geoip_city limit_conn_zone limit_conn limit_conn_log_level " +
    "limit_conn_dry_run log_format access_log open_log_file_cache map map_hash_max_size " +
    "map_hash_bucket_size proxy_pass proxy_bind proxy_socket_keepalive proxy_connect_timeout " +
    "proxy_timeout proxy_buffer_size proxy_downstream_buffer proxy_upstream_buffer proxy_upload_rate " +
    "proxy_download_rate proxy_requests proxy_responses proxy_next_upstream proxy_next_upstream_tries " +
    "proxy_next_upstream_timeout proxy_protocol proxy_half_close proxy_ssl proxy_ssl_session_reuse " +
    "proxy_ssl_protocols proxy_ssl_ciphers proxy_ssl_name proxy_ssl_server_name proxy_ssl_verify " +
    "proxy_ssl_verify_depth proxy_ssl_trusted_certificate proxy_ssl_crl proxy_ssl_certificate " +
    "proxy_ssl_certificate_key proxy_ssl_password_file proxy_ssl_conf_command set_real_ip_from return " +
    "set split_clients ssl_handshake_timeout ssl_certificate ssl_certificate_key ssl_password_file " +
    "ssl_dhparam ssl_ecdh_curve ssl_protocols ssl_ciphers ssl_verify_client ssl_verify_depth " +
    "ssl_client_certificate ssl_trusted_certificate ssl_prefer_server_ciphers ssl_session_cache " +
    "ssl_session_tickets ssl_session_ticket_key ssl_session_timeout ssl_crl ssl_conf_command ssl_alpn " +
    "ssl_preread upstream hash least_conn random zone",
  "nginx 1.22 mail modules":
    "auth_http auth_http_timeout auth_http_header auth_http_pass_client_cert mail server listen " +
    "protocol timeout server_name error_log resolver resolver_timeout max_errors imap_client_buffer " +
    "imap_capabilities imap_auth pop3_capabilities pop3_auth proxy proxy_buffer proxy_timeout " +
    "proxy_pass_error_message xclient proxy_smtp_auth proxy_protocol set_real_ip_from " +
    "smtp_client_buffer smtp_greeting_delay smtp_capabilities smtp_auth ssl starttls ssl_certificate " +
    "ssl_certificate_key ssl_password_file ssl_dhparam ssl_ecdh_curve ssl_protocols ssl_ciphers " +
    "ssl_prefer_server_ciphers ssl_session_cache ssl_session_tickets ssl_session_ticket_key " +
    "ssl_session_timeout ssl_verify_client ssl_verify_depth ssl_client_certificate " +
    "ssl_trusted_certificate ssl_crl ssl_conf_command",
  "OpenResty bundle: lua-nginx-module":
    "lua_load_resty_core lua_thread_cache_max_entries lua_max_running_timers lua_max_pending_timers " +
    "lua_shared_dict lua_capture_error_log lua_sa_restart lua_regex_cache_max_entries " +
    "lua_regex_match_limit lua_package_cpath lua_package_path lua_code_cache lua_need_request_body " +
    "lua_transform_underscores_in_response_headers lua_socket_log_errors init_by_lua_block " +
    "init_by_lua init_by_lua_file init_worker_by_lua_block init_worker_by_lua init_worker_by_lua_file " +
    "exit_worker_by_lua_block exit_worker_by_lua_file set_by_lua_block set_by_lua set_by_lua_file " +
    "server_rewrite_by_lua_block server_rewrite_by_lua_file rewrite_by_lua rewrite_by_lua_block " +
    "access_by_lua access_by_lua_block precontent_by_lua_block precontent_by_lua_file " +
    "precontent_by_lua_no_postpone content_by_lua content_by_lua_block log_by_lua log_by_lua_block " +
    "rewrite_by_lua_file rewrite_by_lua_no_postpone access_by_lua_file access_by_lua_no_postpone " +
    "content_by_lua_file log_by_lua_file header_filter_by_lua header_filter_by_lua_block " +
    "header_filter_by_lua_file body_filter_by_lua body_filter_by_lua_block body_filter_by_lua_file " +
    "balancer_by_lua_block balancer_by_lua_file balancer_keepalive lua_socket_keepalive_timeout " +
    "lua_socket_connect_timeout lua_socket_send_timeout lua_socket_send_lowat lua_socket_buffer_size " +
    "lua_socket_pool_size lua_socket_read_timeout lua_http10_buffering lua_check_client_abort " +
    "lua_use_default_type lua_ssl_protocols lua_ssl_ciphers ssl_client_hello_by_lua_block " +
    "ssl_client_hello_by_lua_file ssl_certificate_by_lua_block ssl_certificate_by_lua_file " +
    "ssl_session_store_by_lua_block ssl_session_store_by_lua_file ssl_session_fetch_by_lua_block " +
    "ssl_session_fetch_by_lua_file proxy_ssl_certificate_by_lua_block " +
    "proxy_ssl_certificate_by_lua_file proxy_ssl_verify_by_lua_block proxy_ssl_verify_by_lua_file " +
    "lua_upstream_skip_openssl_default_verify lua_ssl_verify_depth lua_ssl_certificate " +
    "lua_ssl_certificate_key lua_ssl_trusted_certificate lua_ssl_crl lua_ssl_key_log " +
    "lua_ssl_conf_command lua_malloc_trim lua_worker_thread_vm_pool_size lua_fake_shm",
  "OpenResty bundle: headers-more-nginx-module":
    "more_set_headers more_clear_headers more_set_input_headers more_clear_input_headers",
  "OpenResty bundle: set-misc-nginx-module":
    "set_encode_base64 set_decode_base64 set_encode_base64url set_decode_base64url set_decode_hex " +
    "set_encode_hex set_hmac_sha1 set_hmac_sha256 set_md5 set_sha1 set_unescape_uri set_escape_uri " +
    "set_quote_sql_str set_quote_pgsql_str set_quote_json_str set_if_empty set_hashed_upstream " +
    "set_base32_padding set_base32_alphabet set_encode_base32 set_decode_base32 set_local_today " +
    "set_formatted_gmt_time set_formatted_local_time set_random set_secure_random_alphanum " +
    "set_secure_random_lcalpha set_rotate",
  "OpenResty bundle: echo-nginx-module":
    "echo echo_request_body echo_sleep echo_flush echo_blocking_sleep echo_reset_timer " +
    "echo_before_body echo_after_body echo_location_async echo_location echo_subrequest_async " +
    "echo_subrequest echo_duplicate echo_read_request_body echo_foreach_split echo_end " +
    "echo_abort_parent echo_exec echo_status",
  "OpenResty bundle: srcache-nginx-module":
    "srcache_buffer srcache_fetch srcache_store srcache_store_max_size srcache_fetch_skip " +
    "srcache_store_skip srcache_store_statuses srcache_methods srcache_request_cache_control " +
    "srcache_store_private srcache_store_no_store srcache_store_no_cache " +
    "srcache_response_cache_control srcache_store_hide_header srcache_store_pass_header " +
    "srcache_store_ranges srcache_ignore_content_encoding srcache_header_buffer_size " +
    "srcache_max_expire srcache_default_expire",
  "OpenResty bundle: memc-nginx-module":
    "memc_cmds_allowed memc_pass memc_connect_timeout memc_send_timeout memc_read_timeout " +
    "memc_buffer_size memc_next_upstream memc_upstream_max_fails memc_upstream_fail_timeout " +
    "memc_flags_to_last_modified memc_ignore_client_abort",
  "OpenResty bundle: redis2-nginx-module":
    "redis2_query redis2_raw_query redis2_raw_queries redis2_literal_raw_query redis2_pass " +
    "redis2_bind redis2_connect_timeout redis2_send_timeout redis2_buffer_size redis2_read_timeout " +
    "redis2_next_upstream",
  "OpenResty bundle: array-var-nginx-module":
    "array_split array_map array_map_op array_join",
  "OpenResty bundle: encrypted-session-nginx-module":
    "encrypted_session_key encrypted_session_iv encrypted_session_expires set_encrypt_session " +
    "set_decrypt_session",
  "OpenResty bundle: form-input-nginx-module":
    "set_form_input set_form_input_multi",
  "OpenResty bundle: rds-json-nginx-module":
    "rds_json rds_json_root rds_json_success_property rds_json_user_property rds_json_errcode_key " +
    "rds_json_errstr_key rds_json_format rds_json_content_type rds_json_ret rds_json_buffer_size",
  "OpenResty bundle: rds-csv-nginx-module":
    "rds_csv rds_csv_row_terminator rds_csv_field_separator rds_csv_field_name_header " +
    "rds_csv_content_type rds_csv_buffer_size",
  "OpenResty bundle: xss-nginx-module":
    "xss_get xss_callback_arg xss_input_types xss_check_status xss_override_status xss_output_type",
  "OpenResty bundle: iconv-nginx-module":
    "set_iconv iconv_buffer_size iconv_filter",
  "OpenResty bundle: drizzle-nginx-module":
    "drizzle_server drizzle_keepalive drizzle_query drizzle_dbname drizzle_pass " +
    "drizzle_connect_timeout drizzle_send_query_timeout drizzle_recv_cols_timeout " +
    "drizzle_recv_rows_timeout drizzle_module_header drizzle_buffer_size drizzle_status",
  "OpenResty bundle: ngx_postgres":
    "postgres_server postgres_keepalive postgres_pass postgres_query postgres_rewrite postgres_output " +
    "postgres_set postgres_escape postgres_connect_timeout postgres_result_timeout",
  "nchan (Debian nginx-extras)":
    "nchan_channel_id nchan_pubsub_channel_id nchan_publisher_channel_id nchan_pub_channel_id " +
    "nchan_publisher_upstream_request nchan_deflate_message_for_websocket " +
    "nchan_channel_id_split_delimiter nchan_subscriber_channel_id nchan_sub_channel_id nchan_pubsub " +
    "nchan_pubsub_location nchan_subscriber_info nchan_subscriber_info_string " +
    "nchan_longpoll_multipart_response nchan_eventsource_event nchan_eventsource_ping_comment " +
    "nchan_eventsource_ping_event nchan_eventsource_ping_data nchan_eventsource_ping_interval " +
    "nchan_subscriber push_subscriber nchan_subscriber_location " +
    "nchan_subscriber_compound_etag_message_id nchan_subscriber_message_id_custom_etag_header " +
    "nchan_subscriber_last_message_id nchan_subscriber_http_raw_stream_separator " +
    "nchan_subscriber_first_message nchan_websocket_ping_interval nchan_websocket_client_heartbeat " +
    "nchan_publisher push_publisher nchan_publisher_location nchan_subscriber_timeout " +
    "push_subscriber_timeout nchan_authorize_request nchan_subscribe_request " +
    "nchan_unsubscribe_request nchan_message_temp_path nchan_store_messages push_store_messages " +
    "nchan_shared_memory_size push_max_reserved_memory nchan_max_reserved_memory " +
    "nchan_permessage_deflate_compression_level nchan_permessage_deflate_compression_strategy " +
    "nchan_permessage_deflate_compression_window nchan_permessage_deflate_compression_memlevel " +
    "nchan_redis_url nchan_redis_pass nchan_redis_pass_inheritable " +
    "nchan_redis_publish_msgpacked_max_size nchan_redis_discovered_ip_range_blacklist " +
    "nchan_redis_server nchan_redis_storage_mode nchan_redis_nostore_fastpublish nchan_redis_username " +
    "nchan_redis_password nchan_redis_ssl nchan_redis_tls nchan_redis_ssl_client_certificate " +
    "nchan_redis_tls_client_certificate nchan_redis_ssl_client_certificate_key " +
    "nchan_redis_ssl_server_name nchan_redis_tls_server_name nchan_redis_ssl_trusted_certificate " +
    "nchan_redis_tls_trusted_certificate nchan_redis_ssl_trusted_certificate_path " +
    "nchan_redis_tls_trusted_certificate_path nchan_redis_ssl_ciphers nchan_redis_tls_ciphers " +
    "nchan_redis_ssl_verify_certificate nchan_redis_tls_verify_certificate nchan_use_redis " +
    "nchan_redis_ping_interval nchan_redis_load_scripts_unconditionally " +
    "nchan_redis_accurate_subscriber_count nchan_redis_wait_after_connecting " +
    "nchan_redis_connect_timeout nchan_redis_node_connect_timeout nchan_redis_cluster_connect_timeout " +
    "nchan_redis_cluster_max_failing_time nchan_redis_reconnect_delay nchan_redis_reconnect_delay_min " +
    "nchan_redis_reconnect_delay_jitter nchan_redis_reconnect_delay_backoff " +
    "nchan_redis_reconnect_delay_max nchan_redis_idle_channel_keepalive_safety_margin " +
    "nchan_redis_idle_channel_keepalive_min nchan_redis_idle_channel_keepalive_jitter " +
    "nchan_redis_idle_channel_keepalive_backoff nchan_redis_idle_channel_keepalive_max " +
    "nchan_redis_cluster_check_interval_min nchan_redis_cluster_check_interval " +
    "nchan_redis_cluster_check_interval_jitter nchan_redis_cluster_check_interval_backoff " +
    "nchan_redis_cluster_check_interval_max nchan_redis_cluster_recovery_delay " +
    "nchan_redis_cluster_recovery_delay_min nchan_redis_cluster_recovery_delay_jitter " +
    "nchan_redis_cluster_recovery_delay_backoff nchan_redis_cluster_recovery_delay_max " +
    "nchan_redis_command_timeout nchan_redis_retry_commands nchan_redis_retry_commands_max_wait " +
    "nchan_redis_subscribe_weights nchan_redis_optimize_target nchan_redis_namespace " +
    "nchan_redis_fakesub_timer_interval nchan_redis_idle_channel_cache_timeout " +
    "nchan_redis_upstream_stats nchan_redis_upstream_stats_enabled " +
    "nchan_redis_upstream_stats_disconnected_timeout nchan_message_timeout push_message_timeout " +
    "nchan_message_buffer_length push_max_message_buffer_length push_message_buffer_length " +
    "nchan_message_max_buffer_length nchan_subscribe_existing_channels_only " +
    "push_authorized_channels_only nchan_access_control_allow_origin " +
    "nchan_access_control_allow_credentials nchan_channel_group push_channel_group " +
    "nchan_channel_group_accounting nchan_group_location nchan_group_max_channels " +
    "nchan_group_max_messages nchan_group_max_messages_memory nchan_group_max_messages_disk " +
    "nchan_group_max_subscribers nchan_channel_events_channel_id nchan_stub_status " +
    "nchan_channel_event_string nchan_max_channel_id_length push_max_channel_id_length " +
    "nchan_max_channel_subscribers push_max_channel_subscribers nchan_channel_timeout " +
    "push_channel_timeout nchan_storage_engine nchan_benchmark nchan_benchmark_time " +
    "nchan_benchmark_messages_per_channel_per_minute nchan_benchmark_message_padding_bytes " +
    "nchan_benchmark_channels nchan_benchmark_subscribers_per_channel " +
    "nchan_benchmark_subscriber_distribution nchan_benchmark_publisher_distribution " +
    "push_min_message_buffer_length push_subscriber_concurrency",
};

/** Every directive name nginx (and the OpenResty bundle) knows. */
export const NGINX_DIRECTIVES: ReadonlySet<string> = new Set(Object.values(NGINX_DIRECTIVE_GROUPS).flatMap((names) => names.split(' ')));
