package microblog.client

import microblog.client.infrastructure.ApiResponse
import microblog.client.infrastructure.ClientError
import microblog.client.infrastructure.ClientException
import microblog.client.infrastructure.Serializer
import microblog.client.infrastructure.ServerError
import microblog.client.infrastructure.ServerException
import microblog.client.models.Error
import okhttp3.HttpUrl.Companion.toHttpUrl

/** The server's JSON error body (`error`, `message`, `errors`) of this 4xx, or null when there was none. */
val ClientException.error: Error?
    get() = decodeError((response as? ClientError<*>)?.body)

/** The server's JSON error body of this 5xx, or null when there was none. */
val ServerException.error: Error?
    get() = decodeError((response as? ServerError<*>)?.body)

private fun decodeError(body: Any?): Error? =
    (body as? String)?.let { runCatching { Serializer.kotlinxSerializationJson.decodeFromString(Error.serializer(), it) }.getOrNull() }

/** A response header by name, whatever its case (OkHttp reports names in lower case). */
fun ApiResponse<*>.header(name: String): String? =
    headers.entries.firstOrNull { it.key.equals(name, ignoreCase = true) }?.value?.firstOrNull()

/** The `page`, `per_page` and `cursor` of a `_links.next` or `_links.prev`, to pass to a list call. */
data class PageRequest(val page: Int?, val perPage: Int?, val cursor: String?)

/** Reads a page link of a collection (`/api/users?page=2&per_page=10`, or with a `cursor`). */
fun pageRequestOf(link: String): PageRequest {
    val url = "http://link.invalid".toHttpUrl().resolve(link) ?: throw IllegalArgumentException("not a page link: $link")
    return PageRequest(
        page = url.queryParameter("page")?.toInt(),
        perPage = url.queryParameter("per_page")?.toInt(),
        cursor = url.queryParameter("cursor"),
    )
}
