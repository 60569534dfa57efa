import streamlit as st

st.write("other-sdk-files ok")
