"""The pages and JSON endpoints, one package per blueprint, each with its views and forms.

A view checks the request's shape with its form, makes one call into a flow
or the web layer, and answers; ``answers`` turns the flows' results and
refusals into envelopes, naming the page's own fields.
"""
